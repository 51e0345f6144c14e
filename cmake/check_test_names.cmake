# switchyard_check_test_names(<source>...): CTest's test list is a CMake list, so a Catch2
# TEST_CASE name with a ';' becomes two tests that match nothing (both fail with "No test
# cases matched"). Refuses such a name at configure time, where it is plain.
function(switchyard_check_test_names)
  foreach(source IN LISTS ARGN)
    file(STRINGS ${source} bad REGEX "TEST_CASE\\(\"[^\"]*;")
    if(bad)
      message(FATAL_ERROR "${source}: a TEST_CASE name has a ';' (CTest splits it): ${bad}")
    endif()
  endforeach()
endfunction()
