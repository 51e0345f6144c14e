# Installs the already-built library into a scratch prefix, checks that the install holds only
# headers users need, then configures, builds and runs three tiny consumers: one through
# find_package(switchyard CONFIG), one through add_subdirectory(), and `standalone`, which
# compiles every installed header alone against the prefix and checks what a user can reach.
cmake_minimum_required(VERSION 3.25)  # script mode: IN_LIST and today's policies
set(prefix ${BINARY_DIR}/package-test/prefix)
file(REMOVE_RECURSE ${BINARY_DIR}/package-test)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()

# Every installed detail header is reached from a public header (include/switchyard/*.hpp) by
# the includes: the install holds what the public headers' inline code needs, nothing more.
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

foreach(kind find_package add_subdirectory standalone)
  set(build ${BINARY_DIR}/package-test/${kind})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/${kind} -B ${build}
                    -DCMAKE_PREFIX_PATH=${prefix} -DSWITCHYARD_SOURCE_DIR=${SOURCE_DIR}
                    -DCMAKE_BUILD_TYPE=Release
                  RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "configuring the ${kind} consumer failed: ${rc}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${build} RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "building the ${kind} consumer failed: ${rc}")
  endif()
  execute_process(COMMAND ${build}/consumer RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "running the ${kind} consumer failed: ${rc}")
  endif()
endforeach()
