# Reads the fenced code blocks of a Markdown page, for docs/CMakeLists.txt
# (which compiles the `// doc-test` blocks) and docs/check_excerpts.cmake
# (which checks that quoted code still matches its source file).
#
# moegrad_doc_blocks(<page.md>) sets, in the caller's scope:
#   DOC_BLOCK_COUNT        the number of fenced blocks
#   DOC_BLOCK_<i>_INFO     the fence's info string: "cpp" for ```cpp
#   DOC_BLOCK_<i>_LINE     the page's line number of the block's first line
#   DOC_BLOCK_<i>_FIRST    that first line ("// doc-test", "// core/graph.cpp", ...)
#   DOC_BLOCK_<i>_CODE     the block's lines, each ending in a newline
# for i = 1 .. DOC_BLOCK_COUNT. Fences start at column 0 and are three
# backticks. Blocks are kept as strings, never as CMake lists: C++ is full of
# ';', '[' and '\', which a list would split on or escape.
function(moegrad_doc_blocks page)
  file(READ "${page}" text)
  set(count 0)
  set(line_no 0)
  set(in_block FALSE)
  while(NOT text STREQUAL "")
    # Cut off the next line. string(FIND) plus SUBSTRING rather than a list
    # of lines, for the reason above.
    string(FIND "${text}" "\n" newline)
    if(newline EQUAL -1)
      set(line "${text}")
      set(text "")
    else()
      string(SUBSTRING "${text}" 0 ${newline} line)
      math(EXPR newline "${newline} + 1")
      string(SUBSTRING "${text}" ${newline} -1 text)
    endif()
    math(EXPR line_no "${line_no} + 1")
    string(REGEX MATCH "^```(.*)$" fence "${line}")
    if(NOT in_block)
      if(fence)
        set(in_block TRUE)
        string(STRIP "${CMAKE_MATCH_1}" info)
        set(code "")
        set(first "")
        set(first_line 0)
      endif()
    elseif(fence)  # the closing fence
      set(in_block FALSE)
      math(EXPR count "${count} + 1")
      set(DOC_BLOCK_${count}_INFO "${info}" PARENT_SCOPE)
      set(DOC_BLOCK_${count}_LINE "${first_line}" PARENT_SCOPE)
      set(DOC_BLOCK_${count}_FIRST "${first}" PARENT_SCOPE)
      set(DOC_BLOCK_${count}_CODE "${code}" PARENT_SCOPE)
    else()
      if(first_line EQUAL 0)
        set(first "${line}")
        set(first_line ${line_no})
      endif()
      string(APPEND code "${line}\n")
    endif()
  endwhile()
  if(in_block)
    message(FATAL_ERROR "${page}: a code block is never closed")
  endif()
  set(DOC_BLOCK_COUNT ${count} PARENT_SCOPE)
endfunction()
