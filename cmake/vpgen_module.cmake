# One helper for every vpgen library, so each module has the same shape (docs/ARCHITECTURE.md):
# public headers under <dir>/include/vpgen/<name>/, sources in <dir>/src/, a target vpgen_<name>
# with the alias vpgen::<name>. PUBLIC lists the modules (and libraries) that appear in the public
# headers; PRIVATE those only the sources use. CMake then refuses a link that runs the wrong way:
# a module can include only the headers of what it links.
#   vpgen_add_module(NAME name SOURCES src/a.cpp ... [PUBLIC lib ...] [PRIVATE lib ...])
function(vpgen_add_module)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(vpgen_${ARG_NAME} ${ARG_SOURCES})
  add_library(vpgen::${ARG_NAME} ALIAS vpgen_${ARG_NAME})
  target_include_directories(vpgen_${ARG_NAME} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(vpgen_${ARG_NAME} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
  vpgen_target_defaults(vpgen_${ARG_NAME})
endfunction()
