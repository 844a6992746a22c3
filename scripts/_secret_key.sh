# Sourced by serve and demo after _venv.sh. Settings refuse to start without DJANGO_SECRET_KEY when DEBUG is off;
# on a laptop nobody should have to make one up, so when it is not set the key kept in the var folder is used,
# generated on first use and readable by its owner only (so sessions survive a restart).
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  KEY_DIR="${MEDIANALYSE_VAR_DIR:-$ROOT/var}"
  KEY_FILE="$KEY_DIR/secret_key"
  if [ ! -s "$KEY_FILE" ]; then
    (
      umask 077
      mkdir -p "$KEY_DIR"
      python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$KEY_FILE.$$"
      mv "$KEY_FILE.$$" "$KEY_FILE"
    )
    echo "==> generated a secret key in $KEY_FILE (readable by you only; DJANGO_SECRET_KEY overrides it)"
  fi
  DJANGO_SECRET_KEY="$(cat "$KEY_FILE")"
  export DJANGO_SECRET_KEY
fi
