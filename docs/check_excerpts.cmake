# cmake -DPAGE=<page.md> -DROOT=<repository root> -P check_excerpts.cmake
#
# Checks every ```cpp block of PAGE whose first line names a source file
# (`// core/graph.cpp`): the block's other lines must appear in that file, in
# order and verbatim (indentation included), so a quoted function cannot
# silently drift from the code. A line `// ...` (any indentation) splits the
# excerpt into pieces: each piece must appear as consecutive lines, later
# pieces after earlier ones. Run by CTest as doc_<page>_excerpts.
cmake_minimum_required(VERSION 3.25)
include(${CMAKE_CURRENT_LIST_DIR}/doc_blocks.cmake)

file(RELATIVE_PATH page_rel ${ROOT} ${PAGE})
moegrad_doc_blocks(${PAGE})
set(failures 0)
set(checked 0)

foreach(i RANGE 1 ${DOC_BLOCK_COUNT})
  # (A page without blocks still enters once: RANGE 1 0 counts down.)
  if(DOC_BLOCK_COUNT EQUAL 0 OR NOT DOC_BLOCK_${i}_INFO STREQUAL "cpp")
    continue()
  endif()
  if(NOT DOC_BLOCK_${i}_FIRST MATCHES "^// ([A-Za-z0-9_./-]+\\.(h|cpp|cu|txt|cmake))$")
    continue()
  endif()
  set(source ${CMAKE_MATCH_1})
  math(EXPR checked "${checked} + 1")
  if(NOT EXISTS ${ROOT}/${source})
    message(SEND_ERROR "${page_rel}:${DOC_BLOCK_${i}_LINE}: the excerpt names ${source}, which does not exist")
    math(EXPR failures "${failures} + 1")
    continue()
  endif()
  file(READ ${ROOT}/${source} rest)
  set(rest "\n${rest}")  # a piece starts and ends with a newline, so it matches whole lines only
  # Grow the current piece line by line and look for it after the previous
  # piece, so that a mismatch names the first line that differs. Strings,
  # not lists, for the reason given in doc_blocks.cmake.
  set(code "${DOC_BLOCK_${i}_CODE}")
  set(line_no ${DOC_BLOCK_${i}_LINE})
  string(FIND "${code}" "\n" newline)  # skip the path line
  math(EXPR newline "${newline} + 1")
  string(SUBSTRING "${code}" ${newline} -1 code)
  set(piece "\n")
  while(NOT code STREQUAL "")
    string(FIND "${code}" "\n" newline)
    string(SUBSTRING "${code}" 0 ${newline} line)
    math(EXPR newline "${newline} + 1")
    string(SUBSTRING "${code}" ${newline} -1 code)
    math(EXPR line_no "${line_no} + 1")
    if(line MATCHES "^ *// \\.\\.\\.")  # lines left out: the next piece starts after this one
      string(FIND "${rest}" "${piece}" at)
      string(LENGTH "${piece}" length)
      math(EXPR at "${at} + ${length} - 1")  # keep the piece's last newline
      string(SUBSTRING "${rest}" ${at} -1 rest)
      set(piece "\n")
      continue()
    endif()
    string(APPEND piece "${line}\n")
    string(FIND "${rest}" "${piece}" at)
    if(at EQUAL -1)
      message(SEND_ERROR "${page_rel}:${line_no}: the excerpt of ${source} no longer matches it here:\n"
                         "  ${line}\n(quote the current code, and check that the prose around it still holds)")
      math(EXPR failures "${failures} + 1")
      break()
    endif()
  endwhile()
endforeach()

if(failures GREATER 0)
  message(FATAL_ERROR "${page_rel}: ${failures} excerpt(s) do not match their source; update the page")
endif()
message(STATUS "${page_rel}: ${checked} excerpt(s) match their source files")
