# Run at every build (the shardscore_source_id target): writes OUT with SHARDSCORE_COMMIT, the
# commit the sources are at ("1a2b3c4d5e6f", "-modified" when the tree has changes git tracks, or
# "unknown" outside a git checkout), and rewrites it only when that changed, so that only the few
# files that include it recompile after a commit. Outputs and reports name it: an output can be
# traced to the build that wrote it, which the version number (unchanged between commits) cannot.
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
else()
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc ERROR_QUIET)
  if(rc EQUAL 0 AND NOT changes STREQUAL "")
    set(commit "${commit}-modified")
  endif()
endif()
set(text "#pragma once\n// Generated at build time by cmake/source_id.cmake.\n#define SHARDSCORE_COMMIT \"${commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
