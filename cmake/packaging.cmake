# CPack: `cpack -G DEB` (or TGZ) in a configured build tree packages what `cmake --install`
# installs, under /usr. The Debian package is libswitchyard-dev: the library (static, or shared
# with BUILD_SHARED_LIBS=ON), the headers, the CMake package and the pkg-config file; its
# Depends come from dpkg-shlibdeps. tests/package/run.cmake builds one and consumes it.
set(CPACK_PACKAGE_NAME switchyard)
set(CPACK_PACKAGE_VENDOR "switchyard")
set(CPACK_PACKAGE_CONTACT "switchyard maintainers <switchyard@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR TGZ)
set(CPACK_SOURCE_GENERATOR "")

set(CPACK_DEBIAN_PACKAGE_NAME libswitchyard-dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# The summary line is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Queues, topics with consumer groups, exchanges and pub/sub in one process, in memory\n or on a data directory; with its headers, CMake package and pkg-config file.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shared build: a shlibs file for packages built against it, and the ldconfig trigger.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
include(CPack)
