# swarmd.cmake - the coordinator binary (included by orchestrator/CMakeLists.txt).
add_library(swarm_planner STATIC ${CMAKE_CURRENT_LIST_DIR}/planner.c)
target_include_directories(swarm_planner PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(swarm_planner PUBLIC swarm_sched PkgConfig::CJSON)

add_executable(swarmd ${CMAKE_CURRENT_LIST_DIR}/swarmd.c ${CMAKE_CURRENT_LIST_DIR}/swarmd_client.c
                      ${CMAKE_CURRENT_LIST_DIR}/swarmd_worker.c)
target_link_libraries(swarmd PRIVATE swarm_planner swarm_sched swarm_proto PkgConfig::UV
                                     PkgConfig::ZMQ)
