"""Retention (G16) and objections (G12): the sweeper, holds, the officer's pages."""
