#include "infer/weights.h"

namespace flywheel::infer {

int64_t ModelWeights::matrix_bytes() const {
  int64_t total = embedding.bytes();
  if (lm_head.data != embedding.data) total += lm_head.bytes();
  for (const LayerWeights& l : layers)
    for (const WeightMatrix* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) total += w->bytes();
  return total;
}

}  // namespace flywheel::infer
