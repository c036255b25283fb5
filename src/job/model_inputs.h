#pragma once
// Binds each model input to its dataset in the input file, and says how its rows become tensors.
//
// The input is HDF5 or Parquet (job_input_is_parquet). For HDF5, a one-input model reads input.dataset; a model with several inputs names one dataset per input
// in input.datasets. Float model inputs go through the preprocessing chain (a 2-D dataset's
// features, or an image dataset's channels; NHWC images are transposed to NCHW); integer model
// inputs (token ids, attention masks) are cast from an integer dataset as they are. A Parquet input
// feeds a one-input model with float32 rows of its feature columns (input.columns and friends).
#include <mpi.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/job_config.h"
#include "engine/engine.h"
#include "engine/graph.h"
#include "preprocess/transforms.h"
#include "reader/row_reader.h"

namespace shardscore {

struct InputBinding {
  std::string model_input;
  std::string dataset;  // HDF5 dataset, or the Parquet feature columns
  std::unique_ptr<RowReader> reader;
  DType model_dtype = DType::kUndefined;
  Shape model_row_shape;       // what one row is for the model (after NHWC -> NCHW)
  bool preprocessed = false;   // float32 or float64 input: the preprocessing chain applies
  // The chain runs in the model, on the backend (job_preprocess_on_backend): the engine is fed the
  // stored rows, and model_dtype / model_row_shape are the stored type and row shape.
  bool on_backend = false;
  bool nhwc = false;
  int64_t features = 0;        // preprocessing features (channels for images)
  int64_t inner = 1;           // elements per feature per row (H * W for images)
  int64_t feature_offset = 0;  // its first feature's index in the shard statistics
  PreprocessSpec spec;      // the chain's values for a float32 model input
  PreprocessSpec64 spec64;  // ... and for a float64 one (the job's values as given)
  // Fed another size than an earlier input in a dimension both name alike (BERT's ids and mask,
  // [N, "sequence"]): what differs, else "". Not an error by itself: some converters give every
  // unknown dimension one name, and ONNX Runtime runs such models. It is the cause named when the
  // model then fails on the rows.
  std::string shared_dim_mismatch;
};

// Opens one reader per model input (collective over comm: every rank gets the same result) and
// checks each dataset against the model input's type and fixed dimensions, and that all datasets
// have the same number of rows. Errors name the dataset and the model input. A key the job sets
// that is for the other format's input (job_config_keys_only_for) is InvalidArgument naming it.
StatusOr<std::vector<InputBinding>> job_bind_inputs(const JobConfig& job, const Graph& graph, MPI_Comm comm);

// preprocess.where: moves the preprocessing chain of every input that allows it (stored as an 8- or
// 16-bit integer, an image or a 1-D row, no impute or clip) into the model (Engine::take_raw_inputs),
// for "backend", or for "auto" when the engine's backend is CUDA (a GPU then receives uint8 images,
// a quarter of the float32 bytes, and the host does no per-element work). The model sees the same
// float32 values as from the host chain. Returns the names of the inputs moved.
StatusOr<std::vector<std::string>> job_preprocess_on_backend(const JobConfig& job, Engine& engine,
                                                            std::vector<InputBinding>& inputs);

// Parquet input: a folder, or a file named *.parquet / *.pq. Everything else is read as HDF5.
// Collective: rank 0 looks for the folder and every rank goes by what it saw, so that all read
// (and fail) alike where a folder is missing on some node: ranks that took different formats made
// different collective calls and hung.
bool job_input_is_parquet(const std::string& path, MPI_Comm comm);
// Parquet output: a path ending in ".parquet" or ".pq" (in any case, as an input's) or "/", or an
// existing folder. Everything else is HDF5.
// Collective, as job_input_is_parquet.
bool job_output_is_parquet(const std::string& path, MPI_Comm comm);

// Whether the rows are read straight into the tensor the engine is fed: stored as the model takes
// them, handed to the backend as stored (on_backend), or stored as the model's float type (float32
// or float64) for the host chain, which then runs in place (preprocess_rows_in_place). Otherwise
// they are read into a buffer of the stored type and converted into the tensor.
bool input_read_into_tensor(const InputBinding& b);

// Human description for logs and the report: "input_ids <- /input_ids (int64 [16])".
std::string input_binding_describe(const InputBinding& b);

}  // namespace shardscore
