#include "perplexity.h"

#include <algorithm>
#include <cmath>

#include "error.h"

namespace hearth {

perplexity_result perplexity(const model &m, const std::vector<int32_t> &tokens, const session_config &sc) {
  if (sc.n_ctx < 2) fail(HEARTH_ERR_INVALID_ARGUMENT, "perplexity needs a window (n_ctx) of at least 2 tokens");
  session s(m, sc);
  const int32_t nv = m.hp().n_vocab, w = sc.n_ctx;
  perplexity_result r;
  double nll = 0;
  for (size_t first = 0; first + 2 <= tokens.size(); first += (size_t)w) {
    const int32_t n = (int32_t)std::min<size_t>((size_t)w, tokens.size() - first);
    s.reset();
    s.eval(tokens.data() + first, n, true);
    for (int32_t i = 0; i + 1 < n; ++i) {
      const float *l = s.logits(i);
      double mx = -INFINITY, sum = 0;
      for (int32_t v = 0; v < nv; ++v) mx = std::max(mx, (double)l[v]);
      for (int32_t v = 0; v < nv; ++v) sum += std::exp((double)l[v] - mx);
      nll += std::log(sum) + mx - (double)l[tokens[first + (size_t)i + 1]];
      ++r.scored;
    }
    ++r.windows;
  }
  if (r.scored == 0) fail(HEARTH_ERR_INVALID_ARGUMENT, "perplexity needs at least 2 tokens");
  r.nll = nll / (double)r.scored;
  r.perplexity = std::exp(r.nll);
  if (s.stats().neurons) r.neuron_share = (double)s.stats().active / (double)s.stats().neurons;
  return r;
}

}  // namespace hearth
