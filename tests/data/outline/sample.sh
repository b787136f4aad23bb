source ./lib.sh

# Greets.
greet() {
  echo "hi $1"
}
