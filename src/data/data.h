// The data module's public API: corpus ingestion into token datasets, the
// shard and manifest formats, fill-in-the-middle, and the data loader the
// trainer reads batches from. Each part has its own header with its contract:
//
//   ingest.h       ingest_corpus(): folders and git repositories -> a dataset (`flywheel data ingest`)
//   dataset.h      Dataset: manifest.json, shards, per-document metadata
//   token_shard.h  TokenShard: the memory-mapped shard file format
//   fim.h          FimTransform: PSM/SPM layouts matching src/model/prompt_format.h
//   loader.h       DataLoader: packing, FIM, rank slices, SFT rows, exact resume
//   prompt_completion.h  encode_prompt_completion(): an SFT row's tokens and cut
//
// Everything else in src/data/ is private to the module. No libtorch here.
#pragma once

#include "data/dataset.h"
#include "data/fim.h"
#include "data/ingest.h"
#include "data/loader.h"
#include "data/prompt_completion.h"
#include "data/token_shard.h"
