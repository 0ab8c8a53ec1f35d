# Install layout and the .deb (CPack), included from the top-level CMakeLists.txt before the
# source folders (their install() rules put bin/ and share/ in place; tests read the paths here).
#
#   cmake --install build                        bin/, share/hobbit/models/, the unit, the config
#   cd build && cpack -G DEB                     hobbit_<version>_<arch>.deb (configure with
#                                                -DCMAKE_INSTALL_PREFIX=/usr for a .deb)
#
# The unit names the binary and config paths of the configured prefix, so stage an install
# elsewhere with DESTDIR=... rather than --prefix.
include(GNUInstallDirs)

set(HOBBIT_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit is installed (relative to the prefix, or absolute)")

# The config lives in /etc/hobbit for a system install (prefix /usr, the .deb), else under the
# prefix. Absolute, so the unit can name it.
set(HOBBIT_INSTALL_CONFIG_DIR "" CACHE PATH
    "Absolute folder for the installed hobbitd.yaml (empty: /etc/hobbit for prefix /usr, else <prefix>/etc/hobbit)")
if(HOBBIT_INSTALL_CONFIG_DIR)
  set(HOBBIT_CONFIG_DIR_FULL "${HOBBIT_INSTALL_CONFIG_DIR}")
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(HOBBIT_CONFIG_DIR_FULL "/etc/hobbit")
else()
  set(HOBBIT_CONFIG_DIR_FULL "${CMAKE_INSTALL_PREFIX}/etc/hobbit")
endif()
set(hobbit_config_dir "${HOBBIT_CONFIG_DIR_FULL}")
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "hobbit: install prefix ${CMAKE_INSTALL_PREFIX}; a .deb for Debian wants -DCMAKE_INSTALL_PREFIX=/usr")
endif()

# The unit as shipped in deploy/systemd/, with the paths of this prefix.
file(READ ${PROJECT_SOURCE_DIR}/deploy/systemd/hobbitd.service hobbit_unit)
string(REPLACE "/usr/bin/hobbitd" "${CMAKE_INSTALL_FULL_BINDIR}/hobbitd" hobbit_unit "${hobbit_unit}")
string(REPLACE "/etc/hobbit/" "${hobbit_config_dir}/" hobbit_unit "${hobbit_unit}")
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/deploy/hobbitd.service CONTENT "${hobbit_unit}")
install(FILES ${PROJECT_BINARY_DIR}/deploy/hobbitd.service DESTINATION ${HOBBIT_SYSTEMD_UNIT_DIR})

# The default config, keeping the low-precision expert cache in the unit's StateDirectory.
file(READ ${PROJECT_SOURCE_DIR}/config/hobbitd.yaml hobbit_yaml)
string(REPLACE "state_dir: \"\"" "state_dir: /var/lib/hobbit" hobbit_yaml "${hobbit_yaml}")
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/deploy/hobbitd.yaml CONTENT "${hobbit_yaml}")
install(FILES ${PROJECT_BINARY_DIR}/deploy/hobbitd.yaml DESTINATION ${hobbit_config_dir})
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/deploy/systemd/hobbitd.service
             ${PROJECT_SOURCE_DIR}/config/hobbitd.yaml)

install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# .deb: the runtime libraries of Debian 12 that hobbitd links against.
set(CPACK_PACKAGE_NAME hobbit)
set(CPACK_PACKAGE_VENDOR "hobbit")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "gRPC inference daemon for Mixture-of-Experts models larger than GPU memory")
set(CPACK_PACKAGE_CONTACT "hobbit maintainers <hobbit@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(hobbit_deb_depends libgrpc++1.51 libgrpc29 libprotobuf32 libyaml-cpp0.7
    libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libsystemd0 libabsl20220623 libssl3
    libstdc++6)
string(JOIN ", " CPACK_DEBIAN_PACKAGE_DEPENDS ${hobbit_deb_depends})
# dpkg keeps an operator's edits to the config across upgrades.
if(hobbit_config_dir MATCHES "^/etc/")
  file(WRITE ${PROJECT_BINARY_DIR}/deploy/conffiles "${hobbit_config_dir}/hobbitd.yaml\n")
  set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/deploy/conffiles)
endif()
# Debug info stays in the build tree; the package ships stripped binaries.
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
include(CPack)
