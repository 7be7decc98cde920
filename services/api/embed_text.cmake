# Writes OUTPUT, a C++ source defining `extern const char <SYMBOL>[]` in
# namespace jobsched::api with the text of INPUT, as a raw string literal.
# Run at build time: cmake -DINPUT=... -DOUTPUT=... -DSYMBOL=... -P embed_text.cmake
file(READ "${INPUT}" text)
set(delimiter "jsembed")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains )${delimiter}\", which ends the raw string literal")
endif()
# Raw string literals are split into chunks: some compilers cap one literal's length.
string(LENGTH "${text}" length)
set(chunk 16000)
set(body "")
set(offset 0)
while(offset LESS length)
  string(SUBSTRING "${text}" ${offset} ${chunk} piece)
  string(APPEND body "R\"${delimiter}(${piece})${delimiter}\"\n")
  math(EXPR offset "${offset} + ${chunk}")
endwhile()
if(body STREQUAL "")
  set(body "\"\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by embed_text.cmake; do not edit.\n"
  "namespace jobsched::api {\n"
  "extern const char ${SYMBOL}[];\n"
  "const char ${SYMBOL}[] =\n${body};\n"
  "}  // namespace jobsched::api\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
