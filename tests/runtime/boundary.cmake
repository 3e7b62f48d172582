# boundary.cmake - run by ctest (cmake -P): builds the two probe targets of
# tests/runtime/CMakeLists.txt in BUILD_DIR and checks that the private
# include fails for the right reason while the rt.h one compiles, and that
# the project's public include dirs (PUBLIC_DIRS, '|'-separated, those
# under SOURCE_DIR) hold rt.h alone.
foreach(_v BUILD_DIR SOURCE_DIR PUBLIC_DIRS)
  if(NOT DEFINED ${_v} OR "${${_v}}" STREQUAL "")
    message(FATAL_ERROR "boundary.cmake: ${_v} not set")
  endif()
endforeach()
set(_cfg)
if(CONFIG)
  set(_cfg --config ${CONFIG})
endif()

# a file that includes only rt.h compiles against the public target
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target runtime_boundary_public
                        ${_cfg}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "FAIL: rt.h alone does not compile against swarm_runtime "
                      "(does rt.h include a private header?):\n${_out}")
endif()

# a file that includes a private header must not find it
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target runtime_boundary_private
                        ${_cfg}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(_rc EQUAL 0)
  message(FATAL_ERROR "FAIL: boundary_private.c included the private gguf.h through the "
                      "public target swarm_runtime: runtime/ is exported again")
endif()
if(NOT _out MATCHES "gguf\\.h")
  message(FATAL_ERROR "FAIL: boundary_private.c failed, but not on its gguf.h include:\n${_out}")
endif()

# the project's public include dirs hold rt.h and nothing else (the rest,
# e.g. /usr/include/cjson, come from the libraries the engine links)
string(REPLACE "|" ";" _dirs "${PUBLIC_DIRS}")
list(FILTER _dirs INCLUDE REGEX "^${SOURCE_DIR}/")
if(NOT _dirs)
  message(FATAL_ERROR "FAIL: swarm_runtime exports no include dir of the project: [${PUBLIC_DIRS}]")
endif()
foreach(_d ${_dirs})
  file(GLOB_RECURSE _hdrs RELATIVE ${_d} ${_d}/*.h)
  if(NOT _hdrs STREQUAL "rt.h")
    message(FATAL_ERROR "FAIL: public include dir ${_d} holds [${_hdrs}], expected rt.h alone")
  endif()
endforeach()
message(STATUS "runtime boundary holds: rt.h compiles, gguf.h is private, public dirs: ${_dirs}")
