//! Graph passes: shape inference, constant folding, QDQ folding, layout, activation fusion.
