//! `.pte` writer.
