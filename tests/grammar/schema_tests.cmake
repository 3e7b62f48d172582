# JSON Schema -> GBNF: the JSON Schema Test Suite (draft 2020-12) inside the
# supported subset, adversarial schemas, and generation on every fixture model
# validated by an independent validator (python3-jsonschema).
add_executable(test_schema_suite ${CMAKE_CURRENT_LIST_DIR}/test_schema_suite.c)
target_link_libraries(test_schema_suite PRIVATE swarm_runtime PkgConfig::CJSON m)
add_test(NAME grammar.schema_suite
         COMMAND test_schema_suite ${SWARM_FIXTURES}/json-schema-test-suite)
set_tests_properties(grammar.schema_suite PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)
