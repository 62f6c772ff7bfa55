/* Schema table: being written. */
