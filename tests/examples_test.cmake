# The embedding examples against a synthetic model: minimal, the chat loop (turns on stdin), the game loop
# (per-frame step budget, cancelled from another thread).
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
execute_process(COMMAND ${HEARTH} synth -o ${WORK}/m.gguf --preset tiny RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "synth failed: ${err}")
endif()
execute_process(COMMAND ${BIN}/hearth_minimal ${WORK}/m.gguf "The hearth" 12 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^The hearth.")
  message(FATAL_ERROR "minimal failed (${rc}): ${out} ${err}")
endif()
execute_process(COMMAND ${BIN}/hearth_minimal ${WORK}/missing.gguf "x" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "cannot load")
  message(FATAL_ERROR "minimal must fail on a missing model: ${err}")
endif()
file(WRITE ${WORK}/turns.txt "Hello there\nWhat is a hearth?\n\nTell me a story\n")
execute_process(COMMAND ${BIN}/hearth_chat ${WORK}/m.gguf 16 INPUT_FILE ${WORK}/turns.txt
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "3 turns" OR NOT out MATCHES "> What is a hearth\\?")
  message(FATAL_ERROR "chat failed (${rc}): ${out} ${err}")
endif()
# a 4 ms frame budget, skipped after 200 ms: cancelled (the tiny model cannot reach 2000 tokens that fast here... or
# it ends its text first); either way a clean stop
execute_process(COMMAND ${BIN}/hearth_game_loop ${WORK}/m.gguf 4 200 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "frames, [0-9]+ tokens")
  message(FATAL_ERROR "game loop failed (${rc}): ${out} ${err}")
endif()
message(STATUS "game loop: ${err}")
