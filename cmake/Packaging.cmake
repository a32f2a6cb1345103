# Packaging: install() rules and a Debian package built by CPack (`cpack -G DEB`, or
# scripts/package.sh from a clean build directory). The package, relayd, holds:
#
#   /usr/bin/relayd, /usr/bin/relayctl
#   /lib/systemd/system/relayd.service       packaging/relayd.service (Type=notify, hardened)
#   /etc/relayd/relayd.toml                  packaging/relayd.toml, a conffile
#   /usr/lib/sysctl.d/60-relayd.conf         net.core.rmem_max for the default UDP receive buffer
#   /usr/share/relayd/proto/relay/v1/relay.proto   the control API, for clients in other languages
#   /usr/share/doc/relayd/                   README.md and docs/*.md
#   /usr/share/man/man8/relayd.8.gz, man1/relayctl.1.gz   from --help by help2man, when installed
#
# Its dependencies come from the binaries' shared libraries (dpkg-shlibdeps) plus adduser, which
# postinst uses to create the relayd system user the unit runs as.
include(GNUInstallDirs)

install(TARGETS relayd relayctl RUNTIME DESTINATION bin COMPONENT relayd)
# The unit and the sysctl file go where Debian 12's systemd looks for a package's files (not
# under CMAKE_INSTALL_PREFIX: /lib and /usr/lib are fixed places).
install(FILES ${PROJECT_SOURCE_DIR}/packaging/relayd.service DESTINATION /lib/systemd/system COMPONENT relayd)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/sysctl-relayd.conf DESTINATION /usr/lib/sysctl.d
        RENAME 60-relayd.conf COMPONENT relayd)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/relayd.toml DESTINATION /etc/relayd COMPONENT relayd)
install(FILES ${PROJECT_SOURCE_DIR}/proto/relay/v1/relay.proto DESTINATION share/relayd/proto/relay/v1
        COMPONENT relayd)
file(GLOB relay_docs ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${relay_docs} ${PROJECT_SOURCE_DIR}/daemon/queue/QUEUE.md
        DESTINATION share/doc/relayd COMPONENT relayd)

# Man pages from each program's --help (help2man, Debian package help2man); without it the
# package simply has none, and says so at configure time.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(man_dir ${PROJECT_BINARY_DIR}/man)
  file(MAKE_DIRECTORY ${man_dir})
  # name; section; one-line description
  foreach(page "relayd;8;UDP/TCP to TCP message relay daemon" "relayctl;1;control client for relayd")
    list(GET page 0 prog)
    list(GET page 1 section)
    list(GET page 2 what)
    add_custom_command(
      OUTPUT ${man_dir}/${prog}.${section}.gz
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=${section} --name=${what}
              --version-string=${PROJECT_VERSION} --output=${man_dir}/${prog}.${section} $<TARGET_FILE:${prog}>
      COMMAND gzip -9nf ${man_dir}/${prog}.${section}
      DEPENDS ${prog}
      COMMENT "help2man ${prog}"
      VERBATIM)
    list(APPEND man_pages ${man_dir}/${prog}.${section}.gz)
    install(FILES ${man_dir}/${prog}.${section}.gz DESTINATION share/man/man${section} COMPONENT relayd)
  endforeach()
  add_custom_target(man_pages ALL DEPENDS ${man_pages})
else()
  message(STATUS "help2man not found: the package will have no man pages")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME relayd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "relay maintainers <relay@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "message relay: UDP/TCP in, every message delivered over TCP to every destination")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "relayd receives messages (metrics, events, log lines) as UDP datagrams or length-prefixed\n"
    "frames over TCP and delivers every one, in order, to every configured TCP or TLS destination,\n"
    "within a memory budget, counting every message it does not deliver. A gRPC control service\n"
    "(relayctl) adds and removes destinations at run time; Prometheus metrics on request.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
include(CPack)
