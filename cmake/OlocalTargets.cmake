# Helpers that give every project target the same warnings and layout.

# Warnings for our own code; third-party headers come in as system headers
# (imported targets), so -Werror never trips on them.
function(olocal_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
                         -Wno-missing-field-initializers)
  if(OLOCAL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
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
  set(env "OLOCAL_BINARY=$<TARGET_FILE:open-local>" "OLOCAL_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(OLOCAL_SANITIZE)
    list(APPEND env
      "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_init_order=1"
      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=${PROJECT_SOURCE_DIR}/tests/sanitizers.supp")
  endif()
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT 120 ENVIRONMENT "${env}")
endfunction()
