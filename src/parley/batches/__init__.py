"""OpenAI's Batch API on /v1: `/v1/files` for a batch's input and results, `/v1/batches` run by the job workers."""
