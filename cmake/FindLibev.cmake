# FindLibev: Debian's libev-dev ships neither a CMake package nor a pkg-config file,
# so locate the header and library by hand and expose them as Libev::Libev.
find_path(Libev_INCLUDE_DIR NAMES ev.h)
find_library(Libev_LIBRARY NAMES ev)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libev REQUIRED_VARS Libev_LIBRARY Libev_INCLUDE_DIR)

if(Libev_FOUND AND NOT TARGET Libev::Libev)
  add_library(Libev::Libev UNKNOWN IMPORTED)
  set_target_properties(Libev::Libev PROPERTIES
    IMPORTED_LOCATION "${Libev_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Libev_INCLUDE_DIR}")
endif()
mark_as_advanced(Libev_INCLUDE_DIR Libev_LIBRARY)
