# One place for compile flags that every vpgen target gets (STYLE.md: no global flag edits).
# -ffp-contract=off: no fused multiply-add contraction, so floating-point results do not depend on
# which instructions the optimiser picks (reproducibility contract). No -ffast-math, no -march=native.
# The options (top-level CMakeLists.txt): VPGEN_WERROR adds -Werror; VPGEN_SANITIZE builds with
# ASan+UBSan, VPGEN_TSAN with ThreadSanitizer (exclusive: the two runtimes cannot share a process).
# Debian's libtbb is not instrumented, so a TSan run reads tools/tsan.supp (TSAN_OPTIONS, see there).
function(vpgen_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                         -Wno-sign-conversion -ffp-contract=off)
  if(VPGEN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
    # GCC 12 warns -Wrestrict inside libstdc++ for `"x" + std::string&&` at -O2 and above, a known
    # false positive (GCC bug 105329; tests/support/db_digest.hpp trips it): it stays a warning.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
      target_compile_options(${target} PRIVATE -Wno-error=restrict)
    endif()
  endif()
  if(VPGEN_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(VPGEN_TSAN)
    target_compile_options(${target} PRIVATE -fsanitize=thread -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=thread)
  endif()
endfunction()
