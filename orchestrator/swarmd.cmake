# swarmd.cmake - the coordinator binary (included by orchestrator/CMakeLists.txt).
add_library(swarm_planner STATIC ${CMAKE_CURRENT_LIST_DIR}/planner.c ${CMAKE_CURRENT_LIST_DIR}/planner_model.c)
target_include_directories(swarm_planner PUBLIC ${CMAKE_CURRENT_LIST_DIR})
# only the spec types of the scheduler (sched_spec.h): no hiredis, no libuv
target_link_libraries(swarm_planner PUBLIC swarm_sched_spec PkgConfig::CJSON)

# The dashboard's files, embedded into swarmd as a C array (orchestrator/web/embed.cmake).
set(_swarmd_web ${CMAKE_CURRENT_LIST_DIR}/web)
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/web_assets.c
  COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${_swarmd_web} -DOUT=${CMAKE_CURRENT_BINARY_DIR}/web_assets.c
          -P ${_swarmd_web}/embed.cmake
  DEPENDS ${_swarmd_web}/embed.cmake ${_swarmd_web}/index.html ${_swarmd_web}/app.js
          ${_swarmd_web}/style.css
  COMMENT "Embedding the dashboard (orchestrator/web) into swarmd")
find_package(Threads REQUIRED)

add_executable(swarmd ${CMAKE_CURRENT_LIST_DIR}/swarmd.c ${CMAKE_CURRENT_LIST_DIR}/swarmd_client.c
                      ${CMAKE_CURRENT_LIST_DIR}/swarmd_worker.c ${CMAKE_CURRENT_LIST_DIR}/http.c
                      ${CMAKE_CURRENT_LIST_DIR}/swarmd_leader.c
                      ${CMAKE_CURRENT_LIST_DIR}/http_loop.c ${CMAKE_CURRENT_BINARY_DIR}/web_assets.c)
target_include_directories(swarmd PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(swarmd PRIVATE swarm_planner swarm_sched swarm_proto PkgConfig::UV
                                     PkgConfig::ZMQ PkgConfig::MHD PkgConfig::CJSON Threads::Threads)
