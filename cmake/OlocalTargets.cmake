# Helpers that give every project target the same warnings and layout.

# Warnings for our own code; third-party headers come in as system headers
# (imported targets), so -Werror never trips on them.
function(olocal_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
                         -Wno-missing-field-initializers)
  if(OLOCAL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # GCC 12's optimizer reports impossible overlaps inside libstdc++'s own
  # string copies (-Wrestrict, GCC bug 105651) at -O2/-O3: optimized builds
  # would fail on std::string code that is correct.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  target_include_directories(${target} PUBLIC "${PROJECT_SOURCE_DIR}")
endfunction()

# olocal_library(name SOURCES ... LIBS ...)
function(olocal_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  olocal_target_defaults(${name})
  target_link_libraries(${name} PUBLIC ${ARG_LIBS})
endfunction()

# olocal_test(name LABEL unit|vm SOURCES ... LIBS ...)
# One GoogleTest binary; every test case becomes its own CTest test with the label.
function(olocal_test name)
  cmake_parse_arguments(ARG "" "LABEL" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_LABEL)
    set(ARG_LABEL unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  olocal_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(OLOCAL_SANITIZE)
    # The sanitizers' options (any report fails) are compiled in: see
    # tests/support/sanitizer_defaults.cpp.
    target_link_libraries(${name} PRIVATE olocal_sanitizer_defaults)
  endif()
  # One variable only: gtest_discover_tests flattens PROPERTIES into one list,
  # so a second ENVIRONMENT entry would not survive. Paths tests need at run
  # time beyond the binary are compiled into the test that needs them.
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT 120 ENVIRONMENT "OLOCAL_BINARY=$<TARGET_FILE:open-local>")
endfunction()
