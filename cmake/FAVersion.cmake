# Writes OUT, a header defining FA_VERSION_STRING: VERSION, and when SRC is
# a git checkout, the revision it was built from ("0.1.0+g<hash>", with
# "-dirty" for uncommitted changes). Run at every build (lib/Pipelines):
# the Python kernel cache keys on this string, so a compiler that changes
# its code generation must not reuse the kernels an older one cached under
# the same project version. OUT is rewritten only when the string changes.
set(full "${VERSION}")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${SRC}/.git")
  execute_process(
    COMMAND "${GIT_EXECUTABLE}" describe --always --dirty --abbrev=12
    WORKING_DIRECTORY "${SRC}"
    OUTPUT_VARIABLE revision
    OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET
    RESULT_VARIABLE status)
  if(status EQUAL 0 AND revision)
    set(full "${VERSION}+g${revision}")
  endif()
endif()
set(text "#define FA_VERSION_STRING \"${full}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
