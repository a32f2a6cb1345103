# Compiler cache: a rebuild of unchanged sources (another preset's configure, a fresh clone on the
# same machine, CI right after a session) reads objects from ccache instead of compiling them.
# Paths are made relative to the source tree (CCACHE_BASEDIR) and the build directory is left out
# of the hash (CCACHE_NOHASHDIR), so two clones in different folders share the cache. Off with
# -DRELAY_CCACHE=OFF; nothing changes when ccache is not installed.
option(RELAY_CCACHE "Compile through ccache when it is installed" ON)
find_program(RELAY_CCACHE_PROGRAM ccache)
if(RELAY_CCACHE AND RELAY_CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      "${CMAKE_COMMAND}" -E env "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=8G
      "${RELAY_CCACHE_PROGRAM}")
endif()
