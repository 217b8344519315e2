# What `cmake --install` puts where (GNUInstallDirs), and the Debian package `cpack -G DEB` makes
# of it. Included from the top-level CMakeLists.txt after the targets exist.
#   bin/vpgen                      the program (component vpgen)
#   share/vpgen/configs/           model parameters, scenarios, trials, designs, targets, nightly
#                                  file: where `vpgen` looks for its data (vpgen/config/data_path.hpp)
#   share/doc/vpgen/               README.md and docs/
# The benchmarks install only with -DVPGEN_INSTALL_BENCHMARKS=ON (component benchmarks); the tests
# never do.

option(VPGEN_INSTALL_BENCHMARKS "Install vpgen_bench, vpgen_size_bench and vpgen_report_bench" OFF)

install(TARGETS vpgen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT vpgen)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs DESTINATION ${VPGEN_INSTALL_DATADIR}
        COMPONENT vpgen)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT vpgen)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT vpgen)

if(VPGEN_INSTALL_BENCHMARKS)
  foreach(bench IN ITEMS vpgen_bench vpgen_size_bench vpgen_report_bench)
    if(TARGET ${bench})
      install(TARGETS ${bench} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT benchmarks)
    endif()
  endforeach()
endif()

# ---- Debian package: `cpack -G DEB` in the build folder -------------------------------------------
# Installs under /usr whatever CMAKE_INSTALL_PREFIX was; `vpgen` then finds /usr/share/vpgen from
# its own place (/usr/bin). Depends comes from dpkg-shlibdeps (package dpkg-dev), so it names the
# Debian 12 libraries this build links (TBB, SQLite, fmt, NLopt, Open MPI if VPGEN_MPI, ...).
set(CPACK_PACKAGE_NAME vpgen)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "vpgen maintainers <maintainers@users.noreply.r-seed-138f5d19.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "virtual-patient generator for cancer immunotherapy trials")
string(JOIN " " CPACK_PACKAGE_DESCRIPTION
    "vpgen samples virtual cohorts of cancer patients, simulates each patient under every arm of"
    "an immunotherapy scenario with per-patient random streams (results independent of thread"
    "count), stores runs in SQLite and reports, validates, calibrates and sizes trials. The"
    "default model, scenarios and trial configurations are in /usr/share/vpgen/configs.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
include(CPack)
