# The shared library's dynamic symbol table is its export set (include/switchyard/export.hpp):
#   - every symbol of switchyard's own belongs to a declaration marked SWITCHYARD_EXPORT in
#     the installed headers (its class, or the function itself);
#   - no symbol, not even a standard template's instantiation, is of a type declared in src/
#     (the library's internals) or instantiated over one;
#   - every declaration marked SWITCHYARD_EXPORT has symbols in the table, and the process-wide
#     block pool that the headers' inline code allocates messages from is one (exported), so a
#     message built in the program and freed in the library goes back to the same pool.
# Input: LIBRARY (the .so), HEADERS (the installed include dir), SRC (the source tree's src/).
# Included by run.cmake, or alone: cmake -DLIBRARY=... -DHEADERS=... -DSRC=... -P symbols.cmake.
# A failure is a FATAL_ERROR naming the offending symbols.
cmake_minimum_required(VERSION 3.25)
execute_process(COMMAND nm -D -C --defined-only ${LIBRARY} RESULT_VARIABLE rc
                OUTPUT_VARIABLE table ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "nm -D ${LIBRARY} failed: ${err}")
endif()

# What the headers export: `class [[...]] SWITCHYARD_EXPORT Name` and
# `SWITCHYARD_EXPORT <type> name(`; a header under detail/ declares into switchyard::detail.
set(exported)
file(GLOB_RECURSE headers RELATIVE ${HEADERS} ${HEADERS}/switchyard/*.hpp)
foreach(header IN LISTS headers)
  set(ns "")
  if(header MATCHES "/detail/")
    set(ns "detail::")
  elseif(header MATCHES "/testing/")
    set(ns "testing::")  # the test kit: switchyard::testing
  endif()
  file(STRINGS ${HEADERS}/${header} lines REGEX "SWITCHYARD_EXPORT")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[ \t]*(class|struct)[^;]*SWITCHYARD_EXPORT[ \t]+([A-Za-z_][A-Za-z0-9_]*)")
      list(APPEND exported ${ns}${CMAKE_MATCH_2})
    elseif(line MATCHES "^[ \t]*(\\[\\[nodiscard\\]\\][ \t]*)?SWITCHYARD_EXPORT[^(]*[ \t*&]([A-Za-z_][A-Za-z0-9_]*)\\(")
      list(APPEND exported ${ns}${CMAKE_MATCH_2})
    endif()
  endforeach()
endforeach()
if(NOT exported)
  message(FATAL_ERROR "no SWITCHYARD_EXPORT declaration found under ${HEADERS}/switchyard")
endif()

# What src/ declares: every class, struct or enum defined in one of its headers.
set(internal)
file(GLOB_RECURSE private_headers ${SRC}/*.hpp)
foreach(header IN LISTS private_headers)
  file(STRINGS ${header} lines REGEX "^[ \t]*(class|struct|enum class|enum)[ \t]")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[ \t]*(class|struct|enum class|enum)[ \t]+(\\[\\[[^]]*\\]\\][ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[^;]*$")
      list(APPEND internal ${CMAKE_MATCH_3})
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES internal)
list(REMOVE_ITEM internal ${exported})

string(REPLACE "\n" ";" table "${table}")
set(owned)
set(stray)
set(leaks)
set(own_count 0)
foreach(entry IN LISTS table)
  if(NOT entry MATCHES "^[0-9a-fA-F]* *[A-Za-z] (.*)$")
    continue()
  endif()
  set(symbol "${CMAKE_MATCH_1}")
  string(REGEX REPLACE "^((typeinfo name|typeinfo|vtable|VTT|construction vtable|guard variable|TLS init function|TLS wrapper function|non-virtual thunk|virtual thunk|covariant return thunk) (for|to) )+" "" subject "${symbol}")
  # A type of src/ named in what the symbol is (its owner and template arguments: the part
  # before the parameter list). An exported class's private constructor taking a detail::
  # state names one among its parameters, which is no leak: nobody outside can call it.
  string(REGEX REPLACE "\\(.*$" "" what "${subject}")
  string(REGEX MATCHALL "switchyard::(detail::)?[A-Za-z_][A-Za-z0-9_]*" names "${what}")
  foreach(name IN LISTS names)
    string(REGEX REPLACE "^switchyard::(detail::)?" "" bare "${name}")
    string(REGEX REPLACE "^switchyard::" "" qualified "${name}")
    if(bare IN_LIST internal AND NOT qualified IN_LIST exported)
      list(APPEND leaks "${symbol}")
      break()
    endif()
  endforeach()
  # switchyard's own symbols: the owner (the name before the first '(' or '<') is exported.
  if(subject MATCHES "^switchyard::((detail::|testing::)?[A-Za-z_][A-Za-z0-9_]*)")
    set(owner "${CMAKE_MATCH_1}")
    if(owner IN_LIST exported)
      list(APPEND owned ${owner})
      math(EXPR own_count "${own_count} + 1")
    else()
      list(APPEND stray "${symbol}")
    endif()
  endif()
endforeach()

if(leaks)
  list(REMOVE_DUPLICATES leaks)
  list(JOIN leaks "\n  " leaks)
  message(FATAL_ERROR "${LIBRARY} exports symbols of the library's internals (src/):\n  ${leaks}")
endif()
if(stray)
  list(REMOVE_DUPLICATES stray)
  list(JOIN stray "\n  " stray)
  message(FATAL_ERROR "${LIBRARY} exports switchyard symbols no SWITCHYARD_EXPORT declaration "
                      "owns:\n  ${stray}")
endif()
set(missing)
foreach(name IN LISTS exported)
  if(NOT name IN_LIST owned)
    list(APPEND missing ${name})
  endif()
endforeach()
if(missing)
  message(FATAL_ERROR "${LIBRARY} exports nothing of ${missing}, marked SWITCHYARD_EXPORT")
endif()
foreach(required "switchyard::detail::BlockPool::instance()::pool"
                 "switchyard::detail::BlockPool::cache_" "switchyard::library_version()")
  string(FIND "${table}" "${required}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${LIBRARY} does not export ${required}")
  endif()
endforeach()
list(REMOVE_DUPLICATES owned)
list(LENGTH owned owners)
list(LENGTH internal internals)
message(STATUS "symbols: ${own_count} switchyard symbols exported, all owned by the ${owners} "
               "exported declarations; none of the ${internals} types of src/")
