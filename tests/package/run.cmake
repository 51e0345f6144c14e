# Installs the already-built library into a scratch prefix, then configures and builds two
# tiny consumers: one through find_package(switchyard CONFIG), one through add_subdirectory().
set(prefix ${BINARY_DIR}/package-test/prefix)
file(REMOVE_RECURSE ${BINARY_DIR}/package-test)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
foreach(kind find_package add_subdirectory)
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
