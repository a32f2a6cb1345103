# relay_warnings(<target>): warnings on every project target; -Werror only when
# RELAY_WERROR is on (the CI presets turn it on) so a newer compiler cannot break a user's build.
option(RELAY_WERROR "Treat warnings as errors" OFF)
function(relay_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
  if(RELAY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
