# relay_checks(<target>): turns RELAY_ASSERT (daemon/common/check.hpp) on in Debug builds and in
# every sanitizer build, off in release builds.
function(relay_checks target)
  if(CMAKE_BUILD_TYPE STREQUAL "Debug" OR NOT RELAY_SANITIZE STREQUAL "")
    target_compile_definitions(${target} PRIVATE RELAY_CHECKS=1)
  endif()
endfunction()
