/* placeholder: being written this session */ typedef int cee_placeholder_t;
