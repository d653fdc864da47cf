"""Code that runs inside MiniStack's process (its venv has our package, like LocalStack's has the
executor plugin): `python -m tidewater.ministack_patches` applies the start-up patches in
patches.py, then runs MiniStack as its own `ministack` command would."""
