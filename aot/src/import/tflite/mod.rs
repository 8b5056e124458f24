//! TFLite flatbuffer importer.
