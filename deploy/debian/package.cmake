# deploy/debian/package.cmake - `cpack -G DEB` in the build directory makes
# pulse_<version>_amd64.deb: the four programs in /usr/bin, their man pages (made with
# help2man from each program's --help), /etc/pulse/pulse.conf (a conffile), the
# hardened unit pulse-gateway.service, and Depends on Debian's runtime library
# packages (dpkg-shlibdeps). postinst creates the system user "pulse".
# Included from the top-level CMakeLists.txt.
set(PULSE_DEB_DIR ${CMAKE_CURRENT_LIST_DIR})

find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(PULSE_MAN_PAGES "")
  set(name_pulse-gateway "Redis-backed WebSocket gateway (pulse.v1)")
  set(name_pulse-publish "publish Pulse events to Redis or a gateway and record a manifest")
  set(name_pulse-subscribe "hold WebSocket connections to Pulse gateways and log every delivery")
  set(name_pulse-report "delivery and latency report of a Pulse measuring run")
  foreach(prog pulse-gateway pulse-publish pulse-subscribe pulse-report)
    if(TARGET ${prog})
      set(page ${CMAKE_BINARY_DIR}/man/${prog}.1)
      add_custom_command(OUTPUT ${page}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
        COMMAND ${CMAKE_COMMAND} -E env --unset=PULSE_REDIS --unset=PULSE_URL
                ${HELP2MAN} --no-info --no-discard-stderr --section 1 --source "Pulse"
                --name "${name_${prog}}"
                --output ${page} $<TARGET_FILE:${prog}>
        DEPENDS ${prog}
        COMMENT "help2man ${prog}.1"
        VERBATIM)
      list(APPEND PULSE_MAN_PAGES ${page})
    endif()
  endforeach()
  add_custom_target(pulse-man ALL DEPENDS ${PULSE_MAN_PAGES})
  install(FILES ${PULSE_MAN_PAGES} DESTINATION share/man/man1 COMPONENT pulse)
else()
  message(STATUS "help2man not found: no man pages (scripts/install-deps.sh installs it)")
endif()

# System files: only in the package (cmake --install leaves /etc and systemd alone).
install(FILES ${PROJECT_SOURCE_DIR}/gateway/pulse.conf DESTINATION /etc/pulse
        COMPONENT system EXCLUDE_FROM_ALL)
install(FILES ${PULSE_DEB_DIR}/pulse-gateway.service DESTINATION /lib/systemd/system
        COMPONENT system EXCLUDE_FROM_ALL)

set(CPACK_PACKAGE_NAME pulse)
set(CPACK_PACKAGE_VENDOR "Pulse")
set(CPACK_PACKAGE_CONTACT "Pulse maintainers <pulse@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Redis-backed, clustered WebSocket gateway")
set(CPACK_PACKAGE_DESCRIPTION "pulse-gateway fans events published to Redis out to WebSocket clients (pulse.v1); pulse-publish, pulse-subscribe and pulse-report measure delivery and latency.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL pulse system)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PULSE_DEB_DIR}/postinst ${PULSE_DEB_DIR}/prerm ${PULSE_DEB_DIR}/postrm ${PULSE_DEB_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
