"""Helpers the tests share: waiting without sleeping blindly, local receivers."""
