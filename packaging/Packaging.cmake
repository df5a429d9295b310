# Install rules for tracegap's system integration, and the Debian package built from them with
# CPack (packaging/build-deb.sh runs it). Included from the top-level CMakeLists.txt; the
# binaries' own install rules live in daemon/CMakeLists.txt (sbin/tracegapd, bin/tracegap).
#
# Layout (Debian 12): /usr/sbin/tracegapd, /usr/bin/tracegap,
# /lib/systemd/system/tracegapd.service, /etc/tracegap/tracegapd.conf (a conffile),
# /usr/share/man/man{1,8}/*.gz, /usr/share/doc/tracegap/{copyright,changelog.Debian.gz,examples/}.
# The unit and config destinations are absolute on purpose: they do not follow the /usr prefix.

set(TRACEGAP_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd unit is installed")
set(TRACEGAP_SYSCONF_DIR "/etc/tracegap" CACHE PATH "Where tracegapd.conf is installed")
set(TRACEGAP_DEB_REVISION "1" CACHE STRING "Debian revision of the package (the -N in 0.1.0-N)")
set(TRACEGAP_DEB_MAINTAINER "tracegap maintainers <maintainers@users.noreply.r-seed-05fe69b4.example>"
    CACHE STRING "Maintainer field of the Debian package")

set(_pkg_src ${CMAKE_SOURCE_DIR}/packaging)
set(_pkg_out ${CMAKE_BINARY_DIR}/packaging/generated)

# Man pages and the Debian changelog, compressed as Debian wants them (gzip -9n: no name or
# timestamp inside, so the package is reproducible).
find_program(TRACEGAP_GZIP gzip REQUIRED)
set(_pkg_gz_outputs)
foreach(page tracegapd.8 tracegap.1)
  configure_file(${_pkg_src}/man/${page} ${_pkg_out}/man/${page} @ONLY)
  add_custom_command(
    OUTPUT ${_pkg_out}/man/${page}.gz
    COMMAND ${TRACEGAP_GZIP} -9nc ${_pkg_out}/man/${page} > ${_pkg_out}/man/${page}.gz
    DEPENDS ${_pkg_out}/man/${page} ${_pkg_src}/man/${page}
    COMMENT "man page ${page}.gz")
  list(APPEND _pkg_gz_outputs ${_pkg_out}/man/${page}.gz)
endforeach()
add_custom_command(
  OUTPUT ${_pkg_out}/changelog.Debian.gz
  COMMAND ${TRACEGAP_GZIP} -9nc ${_pkg_src}/debian/changelog > ${_pkg_out}/changelog.Debian.gz
  DEPENDS ${_pkg_src}/debian/changelog
  COMMENT "changelog.Debian.gz")
list(APPEND _pkg_gz_outputs ${_pkg_out}/changelog.Debian.gz)
add_custom_target(tracegap_packaging_files ALL DEPENDS ${_pkg_gz_outputs})

# The changelog's newest entry must name the version being packaged.
file(STRINGS ${_pkg_src}/debian/changelog _pkg_changelog_head LIMIT_COUNT 1)
set(_pkg_deb_version "${PROJECT_VERSION}-${TRACEGAP_DEB_REVISION}")
if(NOT _pkg_changelog_head MATCHES "^tracegap \\(${_pkg_deb_version}\\) ")
  message(WARNING "packaging/debian/changelog starts with '${_pkg_changelog_head}', not version "
                  "${_pkg_deb_version}: add an entry before building the package")
endif()

set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

install(FILES ${CMAKE_SOURCE_DIR}/systemd/tracegapd.service DESTINATION ${TRACEGAP_SYSTEMD_UNIT_DIR})
install(FILES ${_pkg_src}/tracegapd.conf DESTINATION ${TRACEGAP_SYSCONF_DIR})
install(FILES ${_pkg_out}/man/tracegapd.8.gz DESTINATION share/man/man8)
install(FILES ${_pkg_out}/man/tracegap.1.gz DESTINATION share/man/man1)
install(FILES ${_pkg_src}/debian/copyright ${_pkg_out}/changelog.Debian.gz
        DESTINATION share/doc/tracegap)
install(FILES ${_pkg_src}/prometheus/scrape.yml ${_pkg_src}/prometheus/tracegap.rules.yml
        DESTINATION share/doc/tracegap/examples/prometheus)
install(FILES ${_pkg_src}/kubernetes/tracegap-daemonset.yaml ${_pkg_src}/kubernetes/prometheus-scrape.yml
              ${_pkg_src}/kubernetes/Containerfile
        DESTINATION share/doc/tracegap/examples/kubernetes)

# --- CPack: tracegap_<version>-<revision>_<arch>.deb -------------------------------------------
# `install` (and so cpack) does not build `all` first: packaging/build-deb.sh builds with
# scripts/build.sh and then packages exactly what that built, and the test suite packages the
# tree it has just built without starting another build.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tracegap)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "${TRACEGAP_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TRACEGAP_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_RELEASE ${TRACEGAP_DEB_REVISION})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "find where distributed-trace context propagation breaks")
# The extended description: CPack indents it and turns the empty line into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"tracegapd watches every process's TCP traffic through eBPF (syscall
tracepoints), reads HTTP request headers for W3C Trace Context and legacy
trace headers, and tells, per process and systemd unit, which inbound
requests arrived with context and which outbound requests propagated it,
dropped it, restarted the trace or mangled it. Applications are neither
modified nor restarted.

Results are Prometheus metrics (127.0.0.1:9477 by default) and a local API
queried with the tracegap command. The daemon runs as the tracegap system
user with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH only; it needs
Linux 6.1 or later with BTF (tested on 6.1 and 6.18).")
# Shared-library dependencies come from dpkg-shlibdeps; adduser is called by postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_pkg_src}/debian/conffiles ${_pkg_src}/debian/postinst ${_pkg_src}/debian/prerm
    ${_pkg_src}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/packaging)
include(CPack)
