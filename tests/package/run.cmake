# The package as users get it (tests/package/CMakeLists.txt registers one test per KIND):
#   KIND=static  installs this build tree into a scratch prefix; checks that the install holds
#                only headers users need and that the installed package depends on Threads
#                only; then configures, builds and runs the consumers: find_package(switchyard
#                CONFIG), add_subdirectory(), `standalone` (every installed header alone, and
#                what a user can reach), `version_range` (find_package's version rule, configure
#                only) and a compiler call with `pkg-config --cflags --libs --static`.
#   KIND=shared  builds the library again with BUILD_SHARED_LIBS=ON (no tests, tools or
#                examples), installs it, checks its SONAME and dynamic symbol table
#                (symbols.cmake) and runs the find_package and pkg-config consumers against the
#                .so; then `cpack -G DEB`, `dpkg-deb -x` of the package into a scratch root (no
#                root rights, nothing installed on the machine) and the find_package and
#                pkg-config consumers against that root.
# Arguments: SOURCE_DIR, BINARY_DIR, KIND, CXX_COMPILER, CXX_LAUNCHER (may be empty), GENERATOR.
cmake_minimum_required(VERSION 3.25)  # script mode: IN_LIST and today's policies
set(root ${BINARY_DIR}/package-test/${KIND})
file(REMOVE_RECURSE ${root})
set(prefix ${root}/prefix)
file(STRINGS ${SOURCE_DIR}/CMakeLists.txt project_line REGEX "^project\\(switchyard VERSION")
string(REGEX REPLACE ".*VERSION ([0-9.]+).*" "\\1" version "${project_line}")

# step(<what> COMMAND ...): runs the command, fails the test with its output if it fails.
function(step what)
  execute_process(${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
  message(STATUS "ok: ${what}")
endfunction()

# output(<var> COMMAND ...): the command's standard output, stripped; fails as step() does.
function(output var)
  execute_process(${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN} failed (${rc}):\n${out}${err}")
  endif()
  set(${var} "${out}" PARENT_SCOPE)
endfunction()

set(configure_args -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
                   -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(CXX_LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()
# The consumers check that the package is found, compiles and links, not how fast it runs:
# they build unoptimised (no build type), which makes the add_subdirectory consumer's copy of
# the library and the standalone headers a third of the cost. The shared library itself is
# built as a packager would (Release): its dynamic symbol table is what symbols.cmake checks.
set(consumer_args ${configure_args} -DCMAKE_BUILD_TYPE=)
list(APPEND configure_args -DCMAKE_BUILD_TYPE=Release)

# consumer(<project> <prefix path> [configure-only]): configures tests/package/<project>
# against the prefix, builds it and runs its `consumer`.
function(consumer project against)
  string(MD5 tag "${against}")
  string(SUBSTRING ${tag} 0 6 tag)
  set(build ${root}/consumers/${project}-${tag})
  step("configuring the ${project} consumer against ${against}"
       COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/${project} -B ${build}
               ${consumer_args} -DCMAKE_PREFIX_PATH=${against} -DSWITCHYARD_SOURCE_DIR=${SOURCE_DIR})
  if(ARGC GREATER 2 AND ARGV2 STREQUAL "configure-only")
    return()
  endif()
  step("building the ${project} consumer" COMMAND ${CMAKE_COMMAND} --build ${build} --parallel 2)
  step("running the ${project} consumer" COMMAND ${build}/consumer)
  set(consumer_binary ${build}/consumer PARENT_SCOPE)
endfunction()

# pkg_config_consumer(<libdir> [static]): compiles and links consumer.cpp with one compiler
# call from `pkg-config --cflags --libs switchyard` (the .pc under <libdir>/pkgconfig), runs it.
function(pkg_config_consumer libdir)
  set(ENV{PKG_CONFIG_PATH} ${libdir}/pkgconfig)
  set(ENV{PKG_CONFIG_LIBDIR} ${libdir}/pkgconfig)  # nothing of the machine's
  output(found_version COMMAND pkg-config --modversion switchyard)
  if(NOT found_version STREQUAL version)
    message(FATAL_ERROR "pkg-config says switchyard ${found_version}, the project ${version}")
  endif()
  set(static_flag "")
  if(ARGC GREATER 1 AND ARGV1 STREQUAL "static")
    set(static_flag --static)
  endif()
  output(flags COMMAND pkg-config --cflags --libs ${static_flag} switchyard)
  message(STATUS "pkg-config --cflags --libs ${static_flag} switchyard: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  string(MD5 tag "${libdir}")
  string(SUBSTRING ${tag} 0 6 tag)
  set(binary ${root}/consumers/pkg-config-${tag}/consumer)
  file(MAKE_DIRECTORY ${root}/consumers/pkg-config-${tag})
  step("compiling and linking a consumer with pkg-config's flags"
       COMMAND ${CXX_COMPILER} -std=c++20 -O1 ${SOURCE_DIR}/tests/package/consumer.cpp ${flags}
               -o ${binary})
  step("running the pkg-config consumer"
       COMMAND ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${libdir} ${binary})
  set(consumer_binary ${binary} PARENT_SCOPE)
endfunction()

# installed_dependencies(<prefix> <expected compile definitions>): the installed package's
# consumers need Threads and nothing else: one find_dependency, Threads::Threads the only
# library the target brings, and the compile definitions a user's code must see.
function(installed_dependencies at definitions)
  file(GLOB config ${at}/lib*/cmake/switchyard/switchyard-config.cmake)
  file(GLOB targets ${at}/lib*/cmake/switchyard/switchyard-targets.cmake)
  if(NOT config OR NOT targets)
    message(FATAL_ERROR "no CMake package under ${at}/lib*/cmake/switchyard")
  endif()
  file(STRINGS ${config} dependencies REGEX "find_dependency")
  foreach(line IN LISTS dependencies)
    if(NOT line MATCHES "find_dependency\\(Threads\\)")
      message(FATAL_ERROR "the installed package needs more than Threads: ${line}")
    endif()
  endforeach()
  file(READ ${targets} text)
  string(REGEX MATCH "INTERFACE_LINK_LIBRARIES \"([^\"]*)\"" _ "${text}")
  # A static library's private dependencies appear as $<LINK_ONLY:...> (escaped: \$<...>);
  # the build-only ones (fmt, the warnings) as empty $<LINK_ONLY:>.
  string(REGEX REPLACE "\\\\?\\$<LINK_ONLY:([^>]*)>" "\\1" libraries "${CMAKE_MATCH_1}")
  list(REMOVE_ITEM libraries Threads::Threads "")
  if(libraries)
    message(FATAL_ERROR "switchyard::switchyard brings libraries a user does not need: "
                        "${libraries}")
  endif()
  set(defined "")
  if(text MATCHES "INTERFACE_COMPILE_DEFINITIONS \"([^\"]*)\"")
    set(defined "${CMAKE_MATCH_1}")
  endif()
  if(NOT defined STREQUAL definitions)
    message(FATAL_ERROR "switchyard::switchyard defines '${defined}', expected '${definitions}'")
  endif()
  message(STATUS "ok: the installed package depends on Threads only")
endfunction()

# needs_shared_library(<binary>): the binary loads libswitchyard.so.<SOVERSION>.
function(needs_shared_library binary soname)
  output(dynamic COMMAND objdump -p ${binary})
  if(NOT dynamic MATCHES "NEEDED +${soname}")
    message(FATAL_ERROR "${binary} does not load ${soname}:\n${dynamic}")
  endif()
endfunction()

if(KIND STREQUAL "static")
  step("cmake --install into ${prefix}"
       COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})

  # Every installed detail header is reached from a public header (include/switchyard/*.hpp)
  # by the includes: the install holds what the public headers' inline code needs, no more.
  set(installed ${prefix}/include)
  file(GLOB public RELATIVE ${installed} ${installed}/switchyard/*.hpp)
  file(GLOB_RECURSE details RELATIVE ${installed} ${installed}/switchyard/detail/*)
  set(reached ${public})
  set(pending ${public})
  while(pending)
    list(POP_FRONT pending header)
    file(STRINGS ${installed}/${header} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]switchyard/")
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^[^<\"]*[<\"]([^>\"]+)[>\"].*$" "\\1" included "${line}")
      if(NOT included IN_LIST reached)
        list(APPEND reached ${included})
        list(APPEND pending ${included})
      endif()
    endforeach()
  endwhile()
  foreach(detail IN LISTS details)
    if(NOT detail IN_LIST reached)
      message(FATAL_ERROR "${detail} is installed but no public header includes it: move it to src/")
    endif()
  endforeach()

  installed_dependencies(${prefix} "")
  foreach(project find_package add_subdirectory standalone)
    consumer(${project} ${prefix})
  endforeach()
  consumer(version_range ${prefix} configure-only)
  file(GLOB libdir LIST_DIRECTORIES true ${prefix}/lib*)
  pkg_config_consumer(${libdir} static)
  return()
endif()

if(NOT KIND STREQUAL "shared")
  message(FATAL_ERROR "KIND is static or shared, not '${KIND}'")
endif()

# The shared library, built from the same sources with the options a packager would use.
set(build ${root}/build)
step("configuring a BUILD_SHARED_LIBS=ON build"
     COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${build} ${configure_args}
             -DBUILD_SHARED_LIBS=ON -DSWITCHYARD_BUILD_TESTS=OFF
             -DSWITCHYARD_BUILD_EXAMPLES=OFF -DSWITCHYARD_BUILD_TOOLS=OFF
             -DSWITCHYARD_BUILD_BENCHMARKS=OFF -DSWITCHYARD_INSTALL=ON)
step("building the shared library" COMMAND ${CMAKE_COMMAND} --build ${build} --parallel 2)
step("cmake --install into ${prefix}" COMMAND ${CMAKE_COMMAND} --install ${build} --prefix ${prefix})

string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _ "${version}")
if(CMAKE_MATCH_1 EQUAL 0)
  set(soname libswitchyard.so.${CMAKE_MATCH_1}.${CMAKE_MATCH_2})
else()
  set(soname libswitchyard.so.${CMAKE_MATCH_1})
endif()
file(GLOB libdir LIST_DIRECTORIES true ${prefix}/lib*)
set(LIBRARY ${libdir}/libswitchyard.so.${version})
if(NOT EXISTS ${LIBRARY} OR NOT EXISTS ${libdir}/${soname} OR NOT EXISTS ${libdir}/libswitchyard.so)
  message(FATAL_ERROR "the install lacks ${LIBRARY}, its ${soname} link or libswitchyard.so")
endif()
output(dynamic COMMAND objdump -p ${LIBRARY})
if(NOT dynamic MATCHES "SONAME +${soname}\n")
  message(FATAL_ERROR "${LIBRARY}'s SONAME is not ${soname}:\n${dynamic}")
endif()
set(HEADERS ${prefix}/include)
set(SRC ${SOURCE_DIR}/src)
include(${CMAKE_CURRENT_LIST_DIR}/symbols.cmake)

installed_dependencies(${prefix} "SWITCHYARD_SHARED")
consumer(find_package ${prefix})
needs_shared_library(${consumer_binary} ${soname})
pkg_config_consumer(${libdir})
needs_shared_library(${consumer_binary} ${soname})

# The Debian package: made by CPack from the shared build, unpacked into a scratch root.
step("cpack -G DEB" COMMAND ${CMAKE_COMMAND} -E chdir ${build}
                            cpack -G DEB -B ${root}/deb)
file(GLOB deb ${root}/deb/*.deb)
list(LENGTH deb debs)
if(NOT debs EQUAL 1)
  message(FATAL_ERROR "cpack made ${debs} .deb files: ${deb}")
endif()
output(fields COMMAND dpkg-deb --field ${deb} Package Version Architecture Depends)
message(STATUS "${deb}:\n${fields}")
if(NOT fields MATCHES "Package: libswitchyard-dev\n" OR NOT fields MATCHES "Version: ${version}\n"
   OR NOT fields MATCHES "Depends: [^\n]*libc6")
  message(FATAL_ERROR "${deb} has the wrong control fields:\n${fields}")
endif()
output(contents COMMAND dpkg-deb --contents ${deb})
string(REGEX MATCHALL "\\./[^ \n]*" paths "${contents}")
foreach(path IN LISTS paths)
  if(NOT path MATCHES "^\\./(usr/)?$" AND NOT path MATCHES "^\\./usr/(include|lib|share)/")
    message(FATAL_ERROR "${deb} installs ${path}, outside /usr/{include,lib,share}")
  endif()
endforeach()
set(debroot ${root}/debroot)
step("dpkg-deb -x into ${debroot}" COMMAND dpkg-deb -x ${deb} ${debroot})
consumer(find_package ${debroot}/usr)
needs_shared_library(${consumer_binary} ${soname})
pkg_config_consumer(${debroot}/usr/lib)
