//! Classifier cases, by label and by hard-case family.
