# JSON Schema -> GBNF: the JSON Schema Test Suite (draft 2020-12) inside the
# supported subset, adversarial schemas, and generation on every fixture model
# validated by an independent validator (python3-jsonschema).
add_executable(test_schema_suite ${CMAKE_CURRENT_LIST_DIR}/test_schema_suite.c)
target_link_libraries(test_schema_suite PRIVATE swarm_runtime PkgConfig::CJSON m)
add_test(NAME grammar.schema_suite
         COMMAND test_schema_suite ${SWARM_FIXTURES}/json-schema-test-suite)
set_tests_properties(grammar.schema_suite PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)

add_executable(test_schema_adversarial ${CMAKE_CURRENT_LIST_DIR}/test_schema_adversarial.c)
target_link_libraries(test_schema_adversarial PRIVATE swarm_runtime PkgConfig::PCRE2 m)
add_test(NAME grammar.schema_adversarial COMMAND test_schema_adversarial)
set_tests_properties(grammar.schema_adversarial PROPERTIES TIMEOUT 60)

# Debian's python3 with python3-jsonschema (the script's shebang).
add_test(NAME grammar.schema_generate
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_schema_generate.py $<TARGET_FILE:swarm-infer>
                 ${SWARM_FIXTURES} ${CMAKE_CURRENT_LIST_DIR}/data/schema_gen)
set_tests_properties(grammar.schema_generate PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# Differential: random schemas x random instances, grammar vs python3-jsonschema.
add_test(NAME grammar.schema_fuzz
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_schema_fuzz.py $<TARGET_FILE:test_schema_suite> 600 7)
set_tests_properties(grammar.schema_fuzz PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
