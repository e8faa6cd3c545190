"""Reads behind the staff pages: the inbox (`inbox`), the dashboard (`dashboard`) and the
runs list (`runs`). Every function takes the workspace it is scoped to."""
