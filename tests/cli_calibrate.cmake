# synth (planted, dense layout) -> calibrate (report, gpuidx) -> run sparse -> inspect --report, through the binary.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
execute_process(COMMAND ${HEARTH} synth -o ${WORK}/dense.gguf --preset tiny --sparsity 0.9 --layout llama --type f16
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "synth failed: ${err}")
endif()
execute_process(COMMAND ${HEARTH} calibrate -m ${WORK}/dense.gguf -o ${WORK}/sparse.gguf -t 2 --samples 1024 --epochs 10
  --report ${WORK}/report --gpuidx ${WORK}/sparse.gpuidx --vram-budget 0.0002
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "layer +sparsity" OR NOT out MATCHES "wrote " OR NOT EXISTS ${WORK}/report/report.html
   OR NOT EXISTS ${WORK}/sparse.gpuidx)
  message(FATAL_ERROR "calibrate failed (${rc}): ${out} ${err}")
endif()
file(READ ${WORK}/report/report.html html)
if(NOT html MATCHES "<svg" OR NOT html MATCHES "polyline")
  message(FATAL_ERROR "the report has no charts")
endif()
execute_process(COMMAND ${HEARTH} run -m ${WORK}/sparse.gguf -p "The hearth" -n 8 -t 2 --temp 0
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "predictor")
  message(FATAL_ERROR "running the calibrated model failed (${rc}): ${out} ${err}")
endif()
execute_process(COMMAND ${HEARTH} inspect ${WORK}/sparse.gguf --report ${WORK}/report2 RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "PWRI" OR NOT out MATCHES "ffn_down_t" OR NOT EXISTS ${WORK}/report2/report.html)
  message(FATAL_ERROR "inspect --report failed (${rc}): ${out}")
endif()
# calibrating a file that is already sparse, or a missing file, fails with a message
execute_process(COMMAND ${HEARTH} calibrate -m ${WORK}/sparse.gguf -o ${WORK}/again.gguf --samples 64 --epochs 2
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "already has predictors")
  message(FATAL_ERROR "calibrating a PWRI file must fail with a reason: ${err}")
endif()
execute_process(COMMAND ${HEARTH} calibrate -m ${WORK}/none.gguf -o ${WORK}/x.gguf RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "cannot open")
  message(FATAL_ERROR "a missing model must fail with a message: ${err}")
endif()
