# One place for compile flags that every vpgen target gets (STYLE.md: no global flag edits).
# -ffp-contract=off: no fused multiply-add contraction, so floating-point results do not depend on
# which instructions the optimiser picks (reproducibility contract). No -ffast-math, no -march=native.
function(vpgen_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                         -Wno-sign-conversion -ffp-contract=off)
  if(VPGEN_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
