// The calibration report: one self-contained HTML page of SVG charts (per-layer activation-frequency curves, the
// hot/cold skew; predictor recall per layer; the GPU/CPU split the placement solver picks for a VRAM budget).
#pragma once
#include <cstdint>
#include <string>

#include "model.h"

namespace hearth::cli {

// Writes DIR/report.html (creating DIR) for a calibrated model; returns the path. Throws hearth::error.
std::string write_report(const std::string &dir, const model &m, uint64_t vram_budget);

}  // namespace hearth::cli
