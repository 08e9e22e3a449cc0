// The code of a history slice as a token dataset for the cycle's continued
// pretraining. Training validates on the dataset's valid split, and ingest
// holds files out by their hash (a tenth of them): a small repository (a
// dozen files) often gets none, and the cycle would stop. So when the split
// comes out empty, the file with the smallest hash is held out (ingest's
// own rule with the fraction set just above that file's hash). Private to
// the cycle module.
//
// Thread-safety: as ingest_corpus. Errors: ingest's, or the dataset's.
#pragma once

#include "core/status.h"
#include "data/ingest.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::cycle {

// `options.overwrite` is set: a re-run after a kill redoes an ingest made
// with the other fraction. valid_documents stays 0 only for a slice of a
// single document.
Result<IngestStats> ingest_slice_code(IngestOptions options, const Tokenizer& tokenizer);

}  // namespace flywheel::cycle
