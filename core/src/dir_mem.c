/* placeholder: implemented by its module owner */
