// A runtime width (activation columns, a tile's tokens, a GQA group's heads) as a template argument, for the
// kernels that are compiled once per width. static inline (as gemm_tokens.h): each tier's translation unit keeps
// its own copy.
#pragma once
#include <type_traits>

// f(std::integral_constant<int, W>{}) for the W of Ws equal to w, or for the last of Ws when none is (the
// kernels' `default:` case).
template <int... Ws, class F>
static inline void hearth_with_width(int w, const F &f) {
  constexpr int ws[] = {Ws...};
  if (!((w == Ws ? (f(std::integral_constant<int, Ws>{}), true) : false) || ...))
    f(std::integral_constant<int, ws[sizeof...(Ws) - 1]>{});
}
