# RELAY_SANITIZE selects a sanitizer for every project target (set by the asan/tsan presets).
set(RELAY_SANITIZE "" CACHE STRING "Sanitizer: empty, address (ASan+UBSan), thread, or fuzzer (libFuzzer coverage + ASan+UBSan)")
function(relay_sanitize target)
  if(RELAY_SANITIZE STREQUAL "address")
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  elseif(RELAY_SANITIZE STREQUAL "fuzzer")
    # Coverage for libFuzzer in every target; the harnesses themselves add -fsanitize=fuzzer.
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  elseif(RELAY_SANITIZE STREQUAL "thread")
    target_compile_options(${target} PRIVATE -fsanitize=thread -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=thread)
  elseif(NOT RELAY_SANITIZE STREQUAL "")
    message(FATAL_ERROR "RELAY_SANITIZE must be empty, address, thread or fuzzer")
  endif()
endfunction()

# relay_target(<target>): the project's per-target settings in one call.
function(relay_target target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  relay_warnings(${target})
  relay_sanitize(${target})
  relay_checks(${target})
endfunction()
